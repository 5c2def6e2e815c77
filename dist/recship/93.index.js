export const id=93,ids=[93],modules={88093:((t,o,_)=>{_.r(o);var s=_(10258),n=_(692);(0,s.Cs)(n.vY)})};
